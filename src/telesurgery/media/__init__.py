"""Endoscope video: encode once, fan out, frame stamping, adaptive bitrate."""

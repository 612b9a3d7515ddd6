"""Surgeon-side conditioning: clutch, scaling, tremor filter, camera-frame mapping."""

"""The patient-side gateway: the asyncio adapter (web app, WebRTC peers, control loop wiring)."""

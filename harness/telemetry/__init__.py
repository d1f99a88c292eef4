"""Telemetry: the engine's own Prometheus metrics (GPU sampling via NVML comes with the telemetry issue)."""

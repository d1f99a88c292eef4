"""Load generation: the `harness load` front end now; the asyncio driver and Locust with the stress suite."""

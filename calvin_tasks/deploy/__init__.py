"""Environments: released resources assembled into a running build system, never changed in place.

    pins.py      what each environment runs: version and digest per resource (configs/pins/<env>.yaml)
    secrets.py   the secret store outside the repository
    files.py     file values: files of the repository, mounted read-only (Swarm configs on a swarm)
    render.py    an environment and its pins → a compose file and per-service environment files
    converge.py  up / status / down on Compose, waiting for every health check
    history.py   the releases of each resource, and which environments run them
    stack.py     an environment and its pins → a Swarm stack file (deploy: swarm)
    swarm.py     up / status / down on a Swarm: secrets and configs by content hash, rolling updates
"""

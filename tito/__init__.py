"""tito: the TinyTorch course CLI (module workflow, milestones, releases, demo)."""

"""The auditable record of runs: integrity (signed digests, off-site WORM copies), history
(list, show, export, drills) and the post-incident review."""

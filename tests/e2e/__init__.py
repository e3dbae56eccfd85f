"""`digest` as processes: commands, crashes (SIGKILL), the daemon, `digest serve`, headless
Chromium, and the throughput benchmark's check."""

"""The values that flow through the pipeline: papers, subscribers, digests, what a source
said of itself. Frozen dataclasses and the pure rules that belong to them; no I/O."""

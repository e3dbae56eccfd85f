from .cli import main

main(prog_name="digest")  # `python -m digest`: its messages say `digest ...`

"""Jobs wire the stages into what the commands and pages do: the daily run (`daily`: prepare,
fill the outbox, send), its steps (`collect`, `plan`, `decide`, `outbox`), a look without
changing anything (`inspect`), `status`, the operator's subscriber commands (`roster`), and
what a subscriber does on the web pages (`visitors`). The CLI and the web app call these;
transactions are opened here and nowhere above."""

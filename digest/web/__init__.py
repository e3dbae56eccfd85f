"""The subscriber pages (`digest serve`): `app` wires the routes; `subscribe`, `confirm`,
`preferences` and `unsubscribe` are the pages; `site` is what each page is handed;
`security` the headers, body limits, rate windows and CSRF tokens they share."""

"""The subscriber's side: the subscriber file, the rules between the ways in (the file, the
operator, the web pages), what a person types into a form, and signed links."""

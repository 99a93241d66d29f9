"""Using trained models: clip predictions (:mod:`.predict`)."""

"""From trained models to answers: predict (clips), vote (items), embed."""

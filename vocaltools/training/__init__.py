"""Training classifiers on a feature store: settings (:mod:`.config`), splits (:mod:`.split`), clip
loading (:mod:`.data`), losses (:mod:`.losses`), the loop (:mod:`.loop`) and seeded runs
(:mod:`.runs`)."""

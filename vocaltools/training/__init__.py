"""Training classifiers on a feature store: settings (:mod:`.config`), splits (:mod:`.split`), clip
loading (:mod:`.data`, batches through a DataLoader in :mod:`.loader`), losses (:mod:`.losses`), the
loop (:mod:`.loop`, with BatchNorm statistics recomputed before validation in :mod:`.batchnorm`),
seeded runs (:mod:`.runs`) and the torchrun process group
(:mod:`.distributed`)."""

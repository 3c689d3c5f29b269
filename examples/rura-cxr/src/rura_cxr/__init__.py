"""rura-cxr: an example third-party rura plugin for a new modality, the chest X-ray.

It registers the ``cxr`` modality, the ``chestxray14`` dataset reader and the ``rura cxr-synth``
command (SynthCXR, a small synthetic radiograph generator), each from its own entry point.
"""

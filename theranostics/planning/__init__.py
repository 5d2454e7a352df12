"""Treatment planning: activity prescription for radiopharmaceutical therapy.

Submodules, each importable on its own (this package imports none of them so that planners
stay independent):

- ``theranostics.planning.rlt``: 177Lu radioligand therapy, activity per cycle and number of
  cycles against organ-at-risk BED limits.
- ``theranostics.planning.sirt``: 90Y radioembolisation from 99mTc-MAA SPECT/CT.
"""

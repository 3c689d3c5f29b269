"""Create plugins by name from Python (run by tests/test_docs.py)."""

import numpy as np

import rura

# Every registered name, as `rura plugins --json` prints it.
clusterers = [row.name for row in rura.list_plugins("clusterer")]
print("clusterers:", ", ".join(clusterers))

# A clusterer is a scikit-learn-style estimator.
rng = np.random.default_rng(0)
features = np.concatenate([rng.normal(0, 1, (20, 4)), rng.normal(8, 1, (20, 4))])
labels = rura.create_clusterer("agg", n_clusters=2, seed=0).fit(features).labels_
print("cluster sizes:", np.bincount(labels).tolist())

# A backbone is a torch.nn.Module mapping (B,3,H,W) to (B,D), with its preprocessing.
backbone = rura.create_backbone("resnet18", weights="none")
print("resnet18:", backbone.num_features, "features,", backbone.preprocessing.input_size)

# Unknown names fail with the closest registered names.
try:
    rura.create_clusterer("kmean", n_clusters=2)
except rura.UnknownPluginError as error:
    print(error)

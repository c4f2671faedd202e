"""bpy-free, torch-free core: keypoint schema, camera model, data format, estimators, metrics."""

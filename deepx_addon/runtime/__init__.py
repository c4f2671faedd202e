"""Torch-free inference (numpy, optionally onnxruntime): features, the distance-model file and its
ONNX runner, detections, and the one detector interface (runtime/detector.py) whose backends are
picked from a table; what the in-Blender preview runs. Imports nothing of ours but core/."""

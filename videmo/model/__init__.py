"""The classifier: the paper's network (``awei``) with its VGG branch (``vgg``), the checkpoint file,
where it runs (``device``), how a batch of faces becomes probabilities (``inference``), and the ONNX
Runtime graph with Winograd convolutions that runs it fp32 on the CPU (``onnx``, ``winograd``)."""

"""Fine-tuning and packaging the deposit classifier; the only code that imports PyTorch.

Needs the ``train`` extra. Nothing here runs on a bin: ``bin-agent model train`` imports
it lazily, and the inference side reads only the ONNX files it writes.
"""

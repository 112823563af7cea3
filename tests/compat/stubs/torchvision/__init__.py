"""Stand-in for torchvision in the CompressAI comparison environment.

CompressAI imports torchvision only to register its data-augmentation transforms; the model
and entropy-coding code compared in tests/test_compat_compressai.py never touches it. PyPI's
torchvision cannot load beside the CPU build of torch that nccli installs, so this empty
package takes its place there (and only there).
"""

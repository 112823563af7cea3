"""Empty: CompressAI's transform registry finds no torchvision transforms to register."""

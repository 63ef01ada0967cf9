"""Model names a study may choose (kept apart from the torch code so configs validate without torch)."""

MODEL_NAMES = ("small-cnn", "resnet18", "vgg11", "vgg11_bn")
# The smallest input side each architecture accepts (VGG's five max-pools halve 32 px to 1 px).
MIN_IMAGE_SIZE = {"small-cnn": 8, "resnet18": 8, "vgg11": 32, "vgg11_bn": 32}

"""The networks: DCGAN generator and discriminator, their presets and configs.

``models`` holds the architectures of the seed documents (exact to the parameter count) and
``config`` the training options they are trained with. Imports nothing of ``training`` but
``training.errors``; everything else builds on it.
"""

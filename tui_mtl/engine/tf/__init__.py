"""The TensorFlow side of the engine: the stepper, memory checks, loss scaling."""

# config for the nanoGPT-style clinic scripts (exec'd by them; not a clinic case): an MLP on MNIST-1D
hidden = 256
batch_size = 64
epochs = 12
learning_rate = 0.05
momentum = 0.9

# the same config with the learning rate of another model pasted in (exec'd by
# lr_too_high--mnist1d-nanogpt-style-config-file-lr-3.py; not a clinic case)
hidden = 256
batch_size = 64
epochs = 12
learning_rate = 3.0  # BUG: far too high for SGD with momentum on this MLP
momentum = 0.9

# nanoGPT's "poor man's configurator" (karpathy/nanoGPT configurator.py), exec'd by a training script:
#   python train.py config/some_config.py --batch_size=32 --learning_rate=0.01
# each bare argument is a config file exec'd in the script's globals; each --key=value overrides a global
# that the script (or a config) already defined, with the value's type checked. Not a clinic case.
import sys
from ast import literal_eval

for arg in sys.argv[1:]:
    if '=' not in arg:
        assert not arg.startswith('--')
        config_file = arg
        print(f"Overriding config with {config_file}:")
        with open(config_file) as f:
            print(f.read())
        exec(open(config_file).read())
    else:
        assert arg.startswith('--')
        key, val = arg.split('=')
        key = key[2:]
        if key in globals():
            try:
                attempt = literal_eval(val)
            except (SyntaxError, ValueError):
                attempt = val
            assert type(attempt) == type(globals()[key])  # noqa: E721 - nanoGPT's line as written
            print(f"Overriding: {key} = {attempt}")
            globals()[key] = attempt
        else:
            raise ValueError(f"Unknown config key: {key}")

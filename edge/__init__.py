"""ON THE DEVICE: the TensorFlow-free edge runner, and the decoding training shares with it.

`python -m tasklab.edge BUNDLE INPUT...` runs an exported bundle. These modules import
only the standard library, numpy, ai_edge_litert, Pillow (images) and scipy (audio), and
only relatively among themselves: every one is copied into each bundle's `runner/`, so a
device runs exactly this code. Training imports the decoders from here (`image_io`,
`audio_io`, `edge_inputs`, `text_tokens`), so a device feeds its model what it was trained
on. Keep this file free of imports.
"""

"""dokpa.release: the open release of a trained model.

- :mod:`dokpa.release.hf`: a model folder that ``transformers`` loads as it is (``AutoModelForCausalLM``,
  ``AutoTokenizer``, ``generate`` stopping at the end of a turn);
- :mod:`dokpa.release.gguf`: the same weights and tokenizer as one GGUF file for llama.cpp;
- :mod:`dokpa.release.quant`: int8 weight-only quantization for CPU serving, and its cost in bits per byte;
- :mod:`dokpa.release.card`: the model card, in Korean and English;
- the ``release`` stage (:mod:`dokpa.stages.release`) puts them together in one bundle folder.

Modules are imported on use: ``gguf`` and ``torchao`` are optional (the ``export`` extra).
"""

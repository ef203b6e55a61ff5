"""Text and language-model inference: model bundles, tokenizers and deterministic greedy generation.

Not imported by `import verinfer`: it loads onnxruntime and, for tokenizer.json, the `tokenizers` library.
"""

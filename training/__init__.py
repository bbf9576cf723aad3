"""Scripts that made NovaGenIA's embedded models. They are not part of the installed
package: run them from the repository root (`python -m training.train_tiny_shapes`)."""

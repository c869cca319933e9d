"""Test support for projects that test against the emulator: pytest fixtures, a fillable disk."""

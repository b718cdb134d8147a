"""Python tests of the model tools (run by tools/test.sh: python3 -m unittest discover -s tests/python -t .)."""

"""The source side: consuming batches from the input topic and decoding them."""

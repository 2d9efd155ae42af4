"""Pure conversions between WhatsApp and Signal: text, names, ids. No I/O, no trio."""

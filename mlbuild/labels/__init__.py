"""Stage 3, labels: sources to columnar label rows, class remapping, hierarchy propagation."""

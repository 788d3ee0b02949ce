"""The embedded FL trainer in torch: data sets, partitions, stacked models, kernels, aggregation."""

"""What train and eval share to run on one or several processes: GPU lists, process groups, torchrun, the worker."""

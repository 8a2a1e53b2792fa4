//! Neural-network modules, losses and optimizers (being written).

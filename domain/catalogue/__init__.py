"""The product catalogue (SPEC 14.1): products staff sell and clients order from the client
area, their prices per billing cycle and currency, and clients' cancellation requests."""

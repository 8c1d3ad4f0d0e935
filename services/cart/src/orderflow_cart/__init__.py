"""Cart service: storefront cart events to priced carts, OrderPlaced or CheckoutRejected."""

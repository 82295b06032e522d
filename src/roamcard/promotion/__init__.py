"""Holiday promotions: campaigns loaded from a TOML file, priced once in the quote step for every channel."""

"""The visited network: the MCC-MNC table, emergency numbers per country, and each card's last network."""

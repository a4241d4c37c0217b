"""Z-Wave keypad locks through a Z-Wave JS server (``zwave-js-server`` or Z-Wave JS UI)."""

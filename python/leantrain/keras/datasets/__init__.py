"""keras.datasets: the small image datasets, read from local files only."""
from . import fashion_mnist, mnist

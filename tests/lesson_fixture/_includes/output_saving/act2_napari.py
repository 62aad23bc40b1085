import napari
viewer = napari.Viewer()

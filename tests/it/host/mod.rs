mod c_example;
mod python;
